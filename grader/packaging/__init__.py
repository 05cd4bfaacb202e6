"""What the course hands out: stubs, the student copy, the Gradescope autograder."""
