"""``chiffon bench``: Chiffon's hot paths measured next to the raw libraries, same run."""
