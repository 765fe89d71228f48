"""zelda bundled plugin: metrics (registered through the 'zelda' entry-point group)."""
