//! Integration suites against real redis-server processes.
