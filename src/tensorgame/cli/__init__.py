"""The ``tensorgame`` command line (entry point :func:`tensorgame.cli.main.main`)."""
