// A child entry for the NPZ memory test: it calls readNpzArrayNames in a fresh process,
// so that the process's peak resident set size reflects that one call.
import { serveChildTasks } from '../src/isolation/run-in-child.js';
import { readNpzArrayNames } from '../src/index.js';

serveChildTasks({
  measureReadNpzArrayNames: async (path: string) => {
    // resourceUsage reports maxRSS in kibibytes.
    const peakBefore = process.resourceUsage().maxRSS * 1024;
    const infos = await readNpzArrayNames(path);
    const peakAfter = process.resourceUsage().maxRSS * 1024;
    return { infos, peakGrowthBytes: peakAfter - peakBefore };
  },
});
