"""Training small models on data that a package ships, so accuracy can be tested for real here."""
