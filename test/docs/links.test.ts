import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';

/** The repository root, from dist/test/docs (compiled) or test/docs (ts-node). */
const ROOT = path.resolve(__dirname, __dirname.includes(`${path.sep}dist${path.sep}`) ? '../../..' : '../..');

/** The documents a reader reaches from the front door. */
const DOCUMENTS = ['README.md', 'simulator/README.md', 'sdk/README.md', 'docs/device-protocol.md'];

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes. */
function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  for (const line of markdown.split('\n')) {
    const heading = /^#{1,6}\s+(.*)$/.exec(line);
    if (!heading) continue;
    anchors.add(
      heading[1]
        .trim()
        .toLowerCase()
        .replace(/[^\p{L}\p{N}\s_-]/gu, '')
        .replace(/\s/g, '-'),
    );
  }
  return anchors;
}

/** Relative link targets of a markdown file (inline links; code spans and fenced blocks skipped). */
function relativeLinks(markdown: string): string[] {
  const withoutCode = markdown.replace(/```[\s\S]*?```/g, '').replace(/`[^`\n]*`/g, '');
  const links: string[] = [];
  for (const match of withoutCode.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
    const target = match[1];
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // http:, https:, mailto:
    links.push(target);
  }
  return links;
}

describe('documentation links', () => {
  it('when the README cites the device protocol, then the repository holds it at docs/device-protocol.md', () => {
    const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    expect(readme).to.include('](docs/device-protocol.md)');
    const protocol = fs.readFileSync(path.join(ROOT, 'docs/device-protocol.md'), 'utf8');
    expect(protocol).to.match(/^# Device bridge protocol, version 1$/m);
    expect(protocol).to.include('POST /v1/send');
    expect(protocol).to.match(/^## Media$/m);
  });

  for (const document of DOCUMENTS) {
    it(`when ${document} links to a file or a heading, then that file and heading exist`, () => {
      const file = path.join(ROOT, document);
      const markdown = fs.readFileSync(file, 'utf8');
      const broken: string[] = [];
      for (const link of relativeLinks(markdown)) {
        const [target, anchor] = link.split('#') as [string, string | undefined];
        const resolved = target ? path.resolve(path.dirname(file), decodeURIComponent(target)) : file;
        if (!resolved.startsWith(ROOT) || !fs.existsSync(resolved)) {
          broken.push(`${link} (no such file)`);
          continue;
        }
        if (anchor && resolved.endsWith('.md') && !anchorsOf(fs.readFileSync(resolved, 'utf8')).has(anchor)) broken.push(`${link} (no such heading)`);
      }
      expect(broken, `${document} has broken links`).to.deep.equal([]);
    });
  }
});
