"""The command line (typer). Commands are thin: parse options, call the library, render, exit."""
