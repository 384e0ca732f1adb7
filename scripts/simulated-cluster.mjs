/**
 * A simulated cluster on one machine (root only): H "hosts", each a network
 * namespace with one interface (eth0, its own IP), all joined by a bridge that
 * lives in a namespace of its own (the "switch"), so nothing touches the
 * machine's own network. Links can be capped (tc tbf on each host's eth0 for
 * what it sends, and on its switch port for what it receives). Used by the
 * cluster tests (test/integration/cluster.test.ts) and the scaling benchmark
 * (bench/sections/scaling.mjs). See ../shared/TESTBED.md for what this kernel has.
 */
import { execFileSync, spawn } from 'node:child_process';

function run(cmd, args) {
  execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** `ip` quietly; its error text in the exception's stderr. */
export function ip(...args) {
  run('ip', args);
}

/**
 * Makes the cluster: namespaces `${tag}-sw` (the switch) and `${tag}-h1` … `${tag}-hN`,
 * host i at `${subnet}.i` (subnet: three octets, e.g. "10.77.3"). Returns its description,
 * or throws with ip's words (call removeCluster either way).
 */
export function makeCluster(tag, hosts, subnet) {
  const cluster = describeCluster(tag, hosts, subnet);
  const { sw, bridge } = cluster;
  ip('netns', 'add', sw);
  ip('-n', sw, 'link', 'add', bridge, 'type', 'bridge');
  ip('-n', sw, 'link', 'set', bridge, 'up');
  for (const h of cluster.hosts) {
    ip('netns', 'add', h.ns);
    ip('link', 'add', h.port, 'netns', sw, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', h.ns);
    ip('-n', sw, 'link', 'set', h.port, 'master', bridge);
    ip('-n', sw, 'link', 'set', h.port, 'up');
    ip('-n', h.ns, 'addr', 'add', `${h.ip}/24`, 'dev', 'eth0');
    ip('-n', h.ns, 'link', 'set', 'eth0', 'up');
    ip('-n', h.ns, 'link', 'set', 'lo', 'up');
  }
  return cluster;
}

/** The names a cluster has (made or not). */
export function describeCluster(tag, hosts, subnet) {
  const sw = `${tag}-sw`;
  return {
    sw,
    bridge: 'br0',
    hosts: Array.from({ length: hosts }, (_, i) => ({ ns: `${tag}-h${i + 1}`, ip: `${subnet}.${i + 1}`, port: `p${i + 1}` })),
  };
}

/** Deletes the namespaces (and with them their links), those not made or gone already included. */
export function removeNamespaces(names) {
  for (const ns of names) {
    try {
      ip('netns', 'del', ns);
    } catch {
      // not made, or gone already
    }
  }
}

/** Deletes every namespace of the cluster; those not made are skipped. */
export function removeCluster(cluster) {
  removeNamespaces([cluster.sw, ...cluster.hosts.map((h) => h.ns)]);
}

/**
 * Caps every host's link at `mbit` Mbit/s each way: tbf on the host's eth0 (what it
 * sends) and on its switch port (what it receives, as the switch sends it on).
 */
export function capLinks(cluster, mbit) {
  const burst = `${Math.max(32, Math.round(mbit / 8))}kb`;
  for (const h of cluster.hosts) {
    run('tc', ['-n', h.ns, 'qdisc', 'replace', 'dev', 'eth0', 'root', 'tbf', 'rate', `${mbit}mbit`, 'burst', burst, 'latency', '100ms']);
    run('tc', ['-n', cluster.sw, 'qdisc', 'replace', 'dev', h.port, 'root', 'tbf', 'rate', `${mbit}mbit`, 'burst', burst, 'latency', '100ms']);
  }
}

/** The command prefix that runs a plain process (not a daemon that needs cgroups) in host i's namespace. */
export function inHost(cluster, i) {
  return ['ip', 'netns', 'exec', cluster.hosts[i].ns];
}

/** The PIDs of every process in host i's namespace. */
export function hostPids(cluster, i) {
  const out = execFileSync('ip', ['netns', 'pids', cluster.hosts[i].ns], { encoding: 'utf8' });
  return out.split('\n').filter((l) => l.trim() !== '').map(Number);
}

/**
 * One-way latency of `us` microseconds on every host's input (bench/netdelay.c, built at `netdelay`): an
 * iptables rule in each host sends what comes from the cluster to NFQUEUE 0, where the host's netdelay
 * holds it. Returns a function that takes it all away again (the processes by PID, the rules).
 * `slowStartAfterIdle`: the hosts' net.ipv4.tcp_slow_start_after_idle (Linux's default is 1).
 */
export async function addLatency(cluster, us, netdelay, slowStartAfterIdle = 1) {
  const subnet = `${cluster.hosts[0].ip.split('.').slice(0, 3).join('.')}.0/24`;
  const delays = [];
  for (const h of cluster.hosts) {
    run('ip', ['netns', 'exec', h.ns, 'sysctl', '-q', '-w', `net.ipv4.tcp_slow_start_after_idle=${slowStartAfterIdle}`]);
    if (us <= 0) continue;
    run('ip', ['netns', 'exec', h.ns, 'iptables', '-A', 'INPUT', '-s', subnet, '-j', 'NFQUEUE', '--queue-num', '0', '--queue-bypass']);
    const child = spawn('ip', ['netns', 'exec', h.ns, netdelay, '0', String(us)], { stdio: ['ignore', 'pipe', 'inherit'] });
    delays.push(child);
    await new Promise((resolve, reject) => {
      child.stdout.once('data', resolve);
      child.once('exit', (code) => reject(new Error(`netdelay exited (${code}) in ${h.ns}`)));
    });
  }
  return () => {
    for (const d of delays) d.kill();
    for (const h of cluster.hosts) {
      try {
        run('ip', ['netns', 'exec', h.ns, 'iptables', '-F', 'INPUT']);
      } catch {
        // no rule, or no iptables
      }
    }
  };
}
