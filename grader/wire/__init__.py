"""The frame format both sides speak: a JSON header and raw array bytes, nothing that runs code."""
