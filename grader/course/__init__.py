"""The model of a course: its assignments, their mistakes, the secret behind fresh questions, self-checks."""
