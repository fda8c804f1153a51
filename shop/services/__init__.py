"""Domain logic. One public function is one unit of work and owns its transaction."""
