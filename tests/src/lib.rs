//! Server fixtures shared by the integration suites.
