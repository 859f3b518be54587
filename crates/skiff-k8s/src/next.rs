//! What to run once an export is written: the commands that deploy it, per layout.

use crate::{Export, Layout, OutputFile, helm_release};

/// The commands that deploy what was written into `dir`.
#[must_use]
pub fn next_steps(
    layout: Layout,
    dir: &str,
    base: &Export,
    environments: &[Export],
    files: &[OutputFile],
) -> Vec<String> {
    let firsts = |prefix: &str| -> Vec<String> {
        let mut found: Vec<String> = files
            .iter()
            .filter_map(|f| f.path.strip_prefix(prefix))
            .filter_map(|rest| rest.split_once('/').map(|(first, _)| first.to_owned()))
            .collect();
        found.sort();
        found.dedup();
        found
    };
    match layout {
        Layout::Manifests if environments.is_empty() => vec![format!("kubectl apply -f {dir}/")],
        Layout::Manifests => firsts("")
            .into_iter()
            .map(|env| format!("kubectl apply -f {dir}/{env}/"))
            .collect(),
        Layout::SingleFile => files
            .iter()
            .filter(|f| f.path != "REPORT.md")
            .map(|f| format!("kubectl apply -f {dir}/{}", f.path))
            .collect(),
        Layout::Kustomize => firsts("overlays/")
            .into_iter()
            .map(|env| format!("kubectl apply -k {dir}/overlays/{env}"))
            .collect(),
        Layout::Helm => {
            let release = helm_release(&base.project);
            if environments.is_empty() {
                return vec![format!(
                    "helm install {release} {dir} --namespace {} --create-namespace",
                    base.namespace
                )];
            }
            let values: Vec<&str> = files
                .iter()
                .filter(|f| f.path.starts_with("values-"))
                .map(|f| f.path.as_str())
                .collect();
            environments
                .iter()
                .zip(values)
                .map(|(env, values)| {
                    format!(
                        "helm install {release} {dir} -f {dir}/{values} --namespace {} \
                         --create-namespace",
                        env.namespace
                    )
                })
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_helm_hint_names_a_release_helm_accepts() {
        let base = Export {
            project: "My_App".into(),
            environment: None,
            namespace: "my-app".into(),
            objects: Vec::new(),
            report: crate::Report::default(),
        };
        assert_eq!(
            next_steps(Layout::Helm, "chart", &base, &[], &[]),
            ["helm install my-app chart --namespace my-app --create-namespace"]
        );
    }
}
