// The house's two rules, checked on every test run (`pnpm test`, so CI too):
// - no import circles inside any package (madge, on the TypeScript sources);
// - dependencies point one way: core <- protocol <- worker <- coordinator <- cli. A package
//   may import, and list in its package.json, only packages to its left.
// Prints what breaks a rule and exits 1; prints one line and exits 0 when all is well.
// Usage: node scripts/check-structure.mjs [ROOT]   (ROOT: the workspace, by default this one)
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import madge from 'madge';

const ORDER = ['core', 'protocol', 'worker', 'coordinator', 'cli'];
const root = process.argv[2] ?? new URL('..', import.meta.url).pathname;
const problems = [];

const packages = readdirSync(join(root, 'packages')).filter((p) => statSync(join(root, 'packages', p)).isDirectory());
for (const name of packages) {
  if (!ORDER.includes(name)) problems.push(`packages/${name} has no place in the order ${ORDER.join(' <- ')}: add it to scripts/check-structure.mjs`);
}

for (const name of ORDER) {
  const dir = join(root, 'packages', name);
  const rank = ORDER.indexOf(name);
  const allowed = (other) => ORDER.indexOf(other) >= 0 && ORDER.indexOf(other) < rank;

  // circles among the package's own modules
  const graph = await madge(join(dir, 'src'), { fileExtensions: ['ts'], tsConfig: join(dir, 'tsconfig.json'), detectiveOptions: { ts: { skipTypeImports: false } } });
  for (const circle of graph.circular()) problems.push(`packages/${name}: an import circle: ${circle.join(' -> ')} -> ${circle[0]}`);
  const modules = Object.keys(graph.obj());
  if (modules.length === 0) problems.push(`packages/${name}: madge found no modules in src/ (is the check still looking at the sources?)`);

  // imports of other packages, in the sources (type imports too: they tie the packages as much)
  for (const file of modules) {
    const text = readFileSync(join(dir, 'src', file), 'utf8');
    for (const [, other] of text.matchAll(/(?:from|import)\s*\(?\s*['"]@shardprop\/([\w-]+)/g)) {
      if (!allowed(other)) problems.push(`packages/${name}/src/${file} imports @shardprop/${other}: ${name} may use only ${ORDER.slice(0, rank).join(', ') || 'no other package'}`);
    }
  }
  // and in its package.json
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  for (const dep of Object.keys({ ...pkg.dependencies, ...pkg.devDependencies })) {
    const m = /^@shardprop\/([\w-]+)$/.exec(dep);
    if (m && !allowed(m[1])) problems.push(`${relative(root, join(dir, 'package.json'))} depends on ${dep}: ${name} may depend only on ${ORDER.slice(0, rank).join(', ') || 'no other package'}`);
  }
}

if (problems.length > 0) {
  console.error(`structure check: ${problems.length} problem(s)\n${problems.map((p) => `- ${p}`).join('\n')}`);
  process.exit(1);
}
console.log(`structure check: no import circles; dependencies point one way (${ORDER.join(' <- ')})`);
