"""The native part of rw (built from the same Rust crate as the ``rw`` binary)."""

__version__: str

def run(argv: list[str]) -> int:
    """Run the ``rw`` command line ``argv`` (``argv[0]`` is the program name); return the exit status."""
