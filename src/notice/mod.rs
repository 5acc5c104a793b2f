//! Notices: what pecwatch tells holders, resellers and operators (content and templates).
