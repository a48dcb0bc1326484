/** Child process for host-runners.test.ts: runs a plan whose second step waits to be interrupted. */
import { LocalRunner } from '../../src/host/runners/local.ts';
import { validatePlan } from '../../src/host/plan.ts';

const [dir] = process.argv.slice(2);
const plan = validatePlan({
  id: 'interrupt',
  title: 'interrupt me',
  lock: `${dir}/lock`,
  preconditions: [],
  steps: [
    { id: 'make', describe: 'make a file', command: ['touch', `${dir}/made`], undo: ['rm', `${dir}/made`] },
    { id: 'wait', describe: 'wait', command: ['sh', '-c', `touch "${dir}/waiting"; sleep 20`] },
    { id: 'never', describe: 'never', command: ['touch', `${dir}/never`] },
  ],
});
const r = await new LocalRunner().run(plan);
process.stdout.write(JSON.stringify(r));
