"""zelda bundled plugin: transforms (registered through the 'zelda' entry-point group)."""
