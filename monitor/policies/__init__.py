"""The bundled policy catalog (catalog.toml), taken from the support documents."""
