"""zelda bundled plugin: datasets (registered through the 'zelda' entry-point group)."""
