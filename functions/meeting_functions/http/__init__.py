"""HTTP edge shared by every function: app factory, problem details, auth, middleware, schemas."""
