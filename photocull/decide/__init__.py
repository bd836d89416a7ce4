"""Keep/discard: suggestions with reasons, the config, apply/undo with its trash lookup, XMP sidecars."""
