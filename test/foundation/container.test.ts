import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { parse } from 'yaml';

/**
 * The container files cannot be built here; what can be checked is that they
 * run exactly what the Procfile and the README run.
 */
const root = path.resolve(__dirname, '..', '..', '..');
const read = (file: string) => fs.readFileSync(path.join(root, file), 'utf8');

function procfile(): Map<string, string> {
  const entries = read('Procfile')
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.startsWith('#'))
    .map((line) => {
      const at = line.indexOf(':');
      return [line.slice(0, at).trim(), line.slice(at + 1).trim()] as [string, string];
    });
  return new Map(entries);
}

interface ComposeService {
  image?: string;
  build?: unknown;
  command?: string[];
  environment?: Record<string, string>;
}

const compose = () => parse(read('compose.yaml'), { merge: true }) as { services: Record<string, ComposeService> };

/** The JSON-array CMD of the Dockerfile's last stage. */
function dockerCmd(): string {
  const match = /^CMD\s+(\[.*\])\s*$/m.exec(read('Dockerfile'));
  expect(match, 'a JSON-array CMD').to.not.equal(null);
  return (JSON.parse(match![1]) as string[]).join(' ');
}

describe('container image and compose file', () => {
  it('when compose.yaml is read, then it has one service per Procfile type running the Procfile command, plus PostgreSQL and Redis', () => {
    const services = compose().services;
    for (const [type, command] of procfile()) {
      expect(services[type], `service ${type}`).to.not.equal(undefined);
      expect((services[type].command ?? []).join(' '), `command of ${type}`).to.equal(command);
      expect(services[type].build, `${type} runs the image built here`).to.equal('.');
    }
    expect(services.postgres?.image).to.match(/^postgres:/);
    expect(services.redis?.image).to.match(/^redis:/);
    expect(services.redis.command).to.include.members(['--maxmemory-policy', 'noeviction']);
    const platform = Object.entries(services).filter(([, service]) => service.build !== undefined).map(([name]) => name);
    expect(platform.sort()).to.deep.equal([...procfile().keys(), 'migrate'].sort());
  });

  it('when compose runs the migrations, then it runs what `npm run migrate` runs, before any process starts', () => {
    const { services } = compose();
    const scripts = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts;
    expect(services.migrate.command?.join(' ')).to.equal(scripts.migrate);
    for (const type of procfile().keys()) {
      expect((services[type] as { depends_on?: Record<string, { condition: string }> }).depends_on?.migrate?.condition, type).to.equal('service_completed_successfully');
    }
    expect(services.web.environment?.NODE_ENV).to.equal('production');
  });

  it('when the Dockerfile is read, then it builds with npm ci and the build script on node:20-slim, and runs web as a non-root user by default', () => {
    const dockerfile = read('Dockerfile');
    const stages = dockerfile.match(/^FROM\s+\S+/gm) ?? [];
    expect(stages.length, 'multi-stage').to.be.greaterThan(1);
    for (const stage of stages) expect(stage).to.equal('FROM node:20-slim');
    expect(dockerfile).to.match(/^RUN npm ci\b/m);
    expect(dockerfile).to.match(/^RUN npm run build\b/m);
    const scripts = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts;
    expect(scripts.build).to.equal('tsc -p tsconfig.json');
    const users = dockerfile.match(/^USER\s+(\S+)/gm) ?? [];
    expect(users.length).to.be.greaterThan(0);
    expect(users[users.length - 1]).to.not.match(/USER\s+(root|0)\b/);
    expect(dockerCmd()).to.equal(procfile().get('web'));
  });

  it('when the README runs the image, then each command is the Procfile line of a process type or the migration', () => {
    const scripts = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts;
    const allowed = new Set([...procfile().values(), scripts.migrate]);
    const runs = read('README.md')
      .split('\n')
      .filter((line) => line.startsWith('docker run '));
    expect(runs.length).to.be.greaterThan(2);
    for (const line of runs) {
      const words = line.split(/\s+/);
      const image = words.indexOf('senderz');
      expect(image, line).to.be.greaterThan(0);
      const command = words.slice(image + 1).join(' ');
      expect(command === '' ? dockerCmd() : command, line).to.be.oneOf([...allowed]);
    }
  });

  it('when the image is built, then .dockerignore keeps local builds, dependencies and secrets out of the context', () => {
    const ignored = read('.dockerignore').split('\n').map((line) => line.trim());
    expect(ignored).to.include.members(['node_modules', 'dist', '.senderz', '.git']);
  });
});
