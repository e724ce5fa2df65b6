"""Output formats: each turns scanned files into text and never touches a file itself."""
