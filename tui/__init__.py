"""The Textual dashboard behind `flyte tui`."""
