"""The learning loop (System 1, §7): patches from learning snippets and signals."""
