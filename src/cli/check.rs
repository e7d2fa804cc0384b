//! `ddsim check`: validate files without running them.

use super::{Failure, one_line};
use ddsim::model::Model;
use std::path::PathBuf;

pub fn cmd_check(files: &[PathBuf]) -> Result<(), Failure> {
    let mut first_err = None;
    for f in files {
        match Model::load(f, &[]) {
            Ok(m) => {
                let users: u32 = m.population.iter().map(|c| c.users).sum();
                println!(
                    "ok: {} (model \"{}\": {} users, {} groups, horizon {})",
                    f.display(),
                    m.name,
                    users,
                    m.groups.count,
                    m.horizon
                );
            }
            Err(e) => {
                eprintln!("error: {}", one_line(&e.to_string()));
                first_err.get_or_insert(e);
            }
        }
    }
    match first_err {
        // Every error has been printed already, one line each.
        Some(_) => Err(Failure { line: String::new(), code: 2 }),
        None => Ok(()),
    }
}
