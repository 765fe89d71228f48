"""zelda bundled plugin: decord (registered through the 'zelda' entry-point group)."""
