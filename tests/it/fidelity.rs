//! `netchaos fidelity`: a sample against itself, against a perturbed copy, and two seeds.
