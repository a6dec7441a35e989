//! Schedules: the launcher worker that runs syncs on their own (not yet built).
