"""The launchers: the ``meeting`` command and the one-process gateway, which wire the planes
(control-plane functions, media node, AI node, mixing worker) together. They sit above every
plane so that no plane imports another's entry points."""
