"""zelda bundled plugin: pyav (registered through the 'zelda' entry-point group)."""
