import path from 'node:path';
import { expect } from 'chai';
import { ESLint } from 'eslint';

const root = path.resolve(__dirname, '..', '..', '..');

/** Lints `code` as if it were the given file of the project, and returns the boundary messages. */
async function boundaryErrors(filePath: string, code: string): Promise<string[]> {
  const eslint = new ESLint({ cwd: root });
  const [result] = await eslint.lintText(code, { filePath: path.join(root, filePath) });
  return result.messages.filter((message) => message.ruleId === 'no-restricted-imports').map((message) => message.message);
}

describe('the layering is enforced by lint', function () {
  this.timeout(60000);
  const cases: [string, string, string][] = [
    ['one pool imports another', 'workers/dispatch/dispatcher.ts', "import { createRouter } from '../sending/router';\nexport const x = createRouter;\n"],
    ['the api imports a pool', 'api/routes/messages.ts', "import { POOLS } from '../../workers/pools';\nexport const x = POOLS;\n"],
    ['a pool imports the api', 'workers/webhooks/deliver.ts', "import { createApiApp } from '../../api/app';\nexport const x = createApiApp;\n"],
    ['shared/ imports a pool', 'shared/outbox.ts', "import { POOLS } from '../workers/pools';\nexport const x = POOLS;\n"],
    ['the simulator imports the platform', 'simulator/main.ts', "import { newId } from '../shared/ids';\nexport const x = newId;\n"],
  ];
  for (const [what, file, code] of cases) {
    it(`when ${what}, then lint (and so npm test) fails`, async () => {
      expect(await boundaryErrors(file, code)).to.have.length(1);
    });
  }

  it('when a pool imports shared/, then lint allows it', async () => {
    expect(await boundaryErrors('workers/dispatch/dispatcher.ts', "import { newId } from '../../shared/ids';\nexport const x = newId;\n")).to.deep.equal([]);
  });
});
