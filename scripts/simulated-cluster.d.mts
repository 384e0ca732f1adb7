// Types of simulated-cluster.mjs, for the TypeScript tests that use it.
export interface Host {
  ns: string;
  ip: string;
  port: string;
}
export interface Cluster {
  sw: string;
  bridge: string;
  hosts: Host[];
}
export function ip(...args: string[]): void;
export function makeCluster(tag: string, hosts: number, subnet: string): Cluster;
export function describeCluster(tag: string, hosts: number, subnet: string): Cluster;
export function removeNamespaces(names: readonly string[]): void;
export function removeCluster(cluster: Cluster): void;
export function capLinks(cluster: Cluster, mbit: number): void;
export function inHost(cluster: Cluster, i: number): string[];
export function hostPids(cluster: Cluster, i: number): number[];
export function addLatency(cluster: Cluster, us: number, netdelay: string, slowStartAfterIdle?: number): Promise<() => void>;
