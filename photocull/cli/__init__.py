"""The photocull command: thin click commands over the library.

``main`` is the console script's entry point and imports the commands only when called. The
scan's decoding processes are started with ``spawn``, which runs the console script again in each
of them (as ``__mp_main__``); with the commands imported at the script's top, every decoding process
also imported click, rich and all the commands before decoding a photo.
"""


def main() -> None:
    """Run the photocull command."""
    from photocull.cli.main import main as run

    run()
