"""What runs inside the sandbox, beside student code: the zygote, the child, the guards, the probes' API."""
