//! Makes the built binary load the libpython it was compiled against.
//!
//! pyo3 links `-lpython3.x` by name; without an rpath the dynamic loader picks whichever
//! libpython sits in the system lib dir (on Debian with pyenv that is a different patch release
//! with a different prefix). Embedding an rpath to the build interpreter's LIBDIR makes build and
//! run agree, so `sys.prefix`, the stdlib and `home=` venvs all belong to one interpreter.
//!
//! The wheel's extension module (feature `extension-module`) links no libpython and embeds no
//! path: it runs inside whichever interpreter imports it.
fn main() {
    let cfg = pyo3_build_config::get();
    if std::env::var_os("CARGO_FEATURE_EXTENSION_MODULE").is_none() {
        if let Some(dir) = cfg.lib_dir() {
            println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
        }
        if let Some(exe) = cfg.executable() {
            println!("cargo:rustc-env=RW_BUILD_PYTHON={exe}");
        }
    }
    println!("cargo:rerun-if-env-changed=PYO3_PYTHON");
    pyo3_build_config::use_pyo3_cfgs();
}
