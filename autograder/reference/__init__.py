"""Reference implementations: one module per lesson, the exercises' names and signatures."""
