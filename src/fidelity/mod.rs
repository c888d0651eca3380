//! How close a candidate's flow logs are to a reference export of real ones (`netchaos fidelity`).
