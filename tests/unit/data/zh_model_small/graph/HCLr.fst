placeholder for unit tests: not model data
