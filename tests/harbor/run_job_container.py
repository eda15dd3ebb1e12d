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

With --like-harness the container runs instead as harness.py runs a pod's container, for an
image harness.py stands in for (its IMAGES table: e.g. goharbor/harbor-core -> /harbor with
harbor_core and its migrations/): in a private mount namespace, every volume of the Job
(ConfigMap and Secret volumes with items and modes, emptyDir) is written as harness.py writes
a pod's and bind-mounted at its mountPath (subPath honoured), next to the image's own files;
the environment is harness.py's (envFrom, env with secretKeyRef/configMapKeyRef, $(VAR)
expansion); the working directory is the image's WORKDIR (or the container's workingDir);
the process runs as runAsUser/runAsGroup with fsGroup as supplementary group. Mountpoints
missing on this machine are created empty for the run and removed afterwards.

--env NAME=VALUE (repeatable) is a test-only override: it replaces (or adds) one variable of
the rendered environment, for negative checks (e.g. a wrong database password); a real Job
never gets it.

  run_job_container.py --harness HARNESS_PY --pod POD --job JOB.yaml --render RENDER.yaml \
      --container NAME --workdir DIR [--backup-root DIR] [--like-harness] [--env NAME=VALUE ...]
"""
import argparse, base64, glob, importlib.util, os, shlex, subprocess, sys
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


def overrides_of(pairs):
    """--env NAME=VALUE (test-only) -> {NAME: VALUE}."""
    found = {}
    for pair in pairs:
        name, sep, value = pair.partition('=')
        if not sep or not name:
            sys.exit(f'--env {pair!r}: expected NAME=VALUE')
        found[name] = value
    return found


def run_like_harness(a, job, pod, c, overrides):
    """Runs container c of the Job as harness.py runs a pod's container (see the module doc)."""
    spec = importlib.util.spec_from_file_location('harness', a.harness)
    h = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(h)
    h.check_image_cache()
    ik = h.image_key(c['image'])
    if ik not in h.IMAGES:
        sys.exit(f'--like-harness: harness.py does not stand in for image {c["image"]}')
    im = h.IMAGES[ik]
    _, by = h.load([a.render])
    probs = h.Problems()
    who = f'Job {job["metadata"]["name"]}'
    podname = job['metadata']['name'] + '-pod'
    psc = pod.get('securityContext') or {}
    csc = c.get('securityContext') or {}
    uid = csc.get('runAsUser', psc.get('runAsUser', 0))
    gid = csc.get('runAsGroup', psc.get('runAsGroup', 0))
    fs_gid = psc.get('fsGroup', psc.get('runAsGroup', 0))
    fields = {'metadata.name': podname, 'metadata.namespace': job['metadata'].get('namespace', 'default'),
              'spec.nodeName': 'node', 'spec.serviceAccountName': pod.get('serviceAccountName', 'default'),
              'status.podIP': '', 'status.hostIP': h.POD_NET + '1'}
    env = {'PATH': h.PATH_DEFAULT, 'HOSTNAME': podname, 'HOME': '/'}
    env.update(im.get('env', {}))
    env.update(h.resolve_env(by, c, probs, who, fields))
    env.update(overrides)
    if c.get('command'):
        argv = [h.expand(x, env) for x in c['command'] + (c.get('args') or [])]
    elif c.get('args'):
        argv = im['entrypoint'] + [h.expand(x, env) for x in c['args']]
    else:
        argv = im['entrypoint'] + im['cmd']
    vols = {v['name']: v for v in pod.get('volumes') or []}
    mounts = [(src, dst) for dst, src in im['binds'].items()]
    for m in c.get('volumeMounts') or []:
        if m['name'] not in vols:
            probs.add('MISSING', f'{who}: volumeMount {m["name"]} has no pod volume')
            continue
        src = h.write_volume(by, vols[m['name']], os.path.join(a.workdir, 'volumes', m['name']), probs, who, (uid, fs_gid))
        if m.get('subPath'):
            src = os.path.join(src, m['subPath'])
            if not os.path.exists(src):
                probs.add('SUBPATH', f'{who}: subPath {m["subPath"]} absent in volume {m["name"]}')
                os.makedirs(src)
        mounts.append((src, m['mountPath']))
    if probs:
        sys.exit(f'== {a.container}: not run, the Job is incomplete for it: {probs}')
    ctmp = os.path.join(a.workdir, 'tmp')
    os.makedirs(ctmp, exist_ok=True)
    os.chmod(ctmp, 0o1777)
    # The mountpoints: those this machine lacks are made empty for the run and removed after it.
    created = []
    for src, dst in mounts:
        cur = ''
        parts = dst.strip('/').split('/')
        for i, part in enumerate(parts):
            cur += '/' + part
            if os.path.lexists(cur):
                continue
            created.append(cur)
            if i == len(parts) - 1 and not os.path.isdir(src):
                open(cur, 'w').close()
            else:
                os.mkdir(cur)
    # The container's own /tmp first, then the mounts on top, as harness.py does. Sources in the
    # work dir are named relative to it, from inside it: still reachable when the work dir itself
    # is under /tmp, which the first bind mount hides.
    workdir = os.path.realpath(a.workdir)
    def source(path):
        path = os.path.realpath(path)
        return os.path.relpath(path, workdir) if path.startswith(workdir + '/') else path
    lines = ['set -e', f'cd {shlex.quote(workdir)}', f'mount --bind {shlex.quote(source(ctmp))} /tmp']
    lines += [f'mount --bind {shlex.quote(source(src))} {shlex.quote(dst)}' for src, dst in mounts]
    lines.append(f'cd {shlex.quote(c.get("workingDir") or im["workdir"])}')
    groups = f'--groups={fs_gid}' if fs_gid else '--clear-groups'
    nnp = ' --no-new-privs' if csc.get('allowPrivilegeEscalation') is False else ''
    lines.append(f'exec setpriv --reuid={uid} --regid={gid} {groups}{nnp} env -i ' +
                 ' '.join(shlex.quote(f'{k}={v}') for k, v in env.items()) + ' ' +
                 ' '.join(shlex.quote(x) for x in argv))
    script = os.path.join(a.workdir, 'launch.sh')
    with open(script, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    os.chmod(script, 0o700)   # it holds the Secrets' values
    try:
        rc = subprocess.run([sys.executable, a.harness, 'exec', a.pod, '--', 'sh', script]).returncode
    finally:
        for path in reversed(created):
            try:
                os.rmdir(path) if os.path.isdir(path) and not os.path.islink(path) else os.unlink(path)
            except OSError as e:
                print(f'could not remove mountpoint {path}: {e}')
    print(f'== {a.container}: exit {rc}')
    sys.exit(rc)


def main():
    p = argparse.ArgumentParser()
    for flag in ('--harness', '--pod', '--job', '--render', '--container', '--workdir'):
        p.add_argument(flag, required=True)
    p.add_argument('--backup-root')
    p.add_argument('--like-harness', action='store_true')
    p.add_argument('--env', action='append', default=[], metavar='NAME=VALUE')
    a = p.parse_args()
    overrides = overrides_of(a.env)
    job = yaml.safe_load(open(a.job))
    pod = job['spec']['template']['spec']
    containers = (pod.get('initContainers') or []) + pod['containers']
    matches = [c for c in containers if c['name'] == a.container]
    if not matches:
        sys.exit(f'no container {a.container} in the Job')
    c = matches[0]
    os.makedirs(a.workdir, exist_ok=True)
    if a.like_harness:
        run_like_harness(a, job, pod, c, overrides)
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
            if not a.backup_root:
                sys.exit('the Job mounts a backup volume: give --backup-root')
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
    env.update(overrides)
    command = (c.get('command') or []) + (c.get('args') or [])
    argv = [sys.executable, a.harness, 'exec', a.pod, '--', 'env', '-i'] + [f'{k}={v}' for k, v in env.items()] + command
    rc = subprocess.run(argv).returncode
    print(f'== {a.container}: exit {rc}; termination message: {open(message).read().strip()}')
    sys.exit(rc)


if __name__ == '__main__':
    main()
