"""What people read: the result model, feedback pages, the class overview and the gradebook."""
