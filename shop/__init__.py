"""edge-shop: a backend for small second-hand shops."""
