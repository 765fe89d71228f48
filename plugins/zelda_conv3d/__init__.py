"""zelda bundled plugin: conv3d (registered through the 'zelda' entry-point group)."""
