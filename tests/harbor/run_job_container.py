#!/usr/bin/python3
"""Runs one container of a Job Berth rendered inside a pod's network namespace of
harbor-runtime (../shared/harbor-runtime), the way the kubelet would run it, from the
rendered Job and nothing re-typed: its command, its environment (values and secretKeyRefs
resolved from the Secrets of the render), and its volume mounts.

Processes here have no mount namespace of their own, so the container's filesystem is a
view: a directory in which each mountPath is a symlink to where that volume lives on this
machine (a Secret volume: one file per key; the `backup` volume: --backup-root; any other:
a directory of its own). An environment value that is an absolute path existing in the
view is rewritten to the view's path; the termination-message path is a file whose content
is printed at the end. These are the only substitutions.

  run_job_container.py --harness HARNESS_PY --pod POD --job JOB.yaml --render RENDER.yaml \
      --container NAME --workdir DIR --backup-root DIR
"""
import argparse, base64, glob, os, subprocess, sys
import yaml


def secrets_of(render):
    found = {}
    for doc in yaml.safe_load_all(open(render)):
        if not doc or doc.get('kind') != 'Secret':
            continue
        data = {k: base64.b64decode(v) for k, v in (doc.get('data') or {}).items()}
        data.update({k: v.encode() for k, v in (doc.get('stringData') or {}).items()})
        found[doc['metadata']['name']] = data
    return found


def main():
    p = argparse.ArgumentParser()
    for flag in ('--harness', '--pod', '--job', '--render', '--container', '--workdir', '--backup-root'):
        p.add_argument(flag, required=True)
    a = p.parse_args()
    job = yaml.safe_load(open(a.job))
    pod = job['spec']['template']['spec']
    containers = (pod.get('initContainers') or []) + pod['containers']
    matches = [c for c in containers if c['name'] == a.container]
    if not matches:
        sys.exit(f'no container {a.container} in the Job')
    c = matches[0]
    secrets = secrets_of(a.render)
    volumes = {v['name']: v for v in pod.get('volumes') or []}
    view = os.path.join(a.workdir, 'view')
    os.makedirs(view, exist_ok=True)
    for m in c.get('volumeMounts') or []:
        v = volumes[m['name']]
        if 'secret' in v:
            source = os.path.join(a.workdir, 'volumes', m['name'])
            os.makedirs(source, exist_ok=True)
            for key, value in secrets[v['secret']['secretName']].items():
                path = os.path.join(source, key)
                with open(path, 'wb') as f:
                    f.write(value)
                os.chmod(path, v['secret'].get('defaultMode', 0o644))
        elif m['name'] == 'backup':
            source = os.path.abspath(a.backup_root)
        else:
            source = os.path.join(a.workdir, 'volumes', m['name'])
        os.makedirs(source, exist_ok=True)
        link = os.path.join(view, m['mountPath'].lstrip('/'))
        os.makedirs(os.path.dirname(link), exist_ok=True)
        if not os.path.lexists(link):
            os.symlink(source, link)
    message = os.path.join(a.workdir, 'termination-log')
    open(message, 'w').close()
    message_path = c.get('terminationMessagePath', '/dev/termination-log')
    pg_bin = sorted(glob.glob('/usr/lib/postgresql/*/bin'))[-1:]
    env = {'PATH': ':'.join(pg_bin + ['/usr/bin', '/bin'])}
    for e in c.get('env') or []:
        if 'value' in e:
            value = e['value']
        else:
            ref = e['valueFrom']['secretKeyRef']
            value = secrets[ref['name']][ref['key']].decode()
        if value == message_path:
            value = message
        elif value.startswith('/') and os.path.exists(os.path.join(view, value.lstrip('/'))):
            value = os.path.join(view, value.lstrip('/'))
        env[e['name']] = value
    command = (c.get('command') or []) + (c.get('args') or [])
    argv = [sys.executable, a.harness, 'exec', a.pod, '--', 'env', '-i'] + [f'{k}={v}' for k, v in env.items()] + command
    rc = subprocess.run(argv).returncode
    print(f'== {a.container}: exit {rc}; termination message: {open(message).read().strip()}')
    sys.exit(rc)


if __name__ == '__main__':
    main()
