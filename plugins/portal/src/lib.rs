//! Harbor's portal: an nginx serving the web UI's static files, rendered as the Harbor
//! Helm chart renders it (`templates/portal/{configmap,deployment,service}.yaml`).

#![forbid(unsafe_code)]

mod render;

pub use render::Portal;

berth_sdk::export_renderer!(Portal);

#[cfg(test)]
mod tests;
