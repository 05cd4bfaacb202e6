"""From a folder to graded work: find the submission, read notebooks, discover a class, check the source."""
