console.log("pnpm app up, 1 minute is", require("ms")("1m"), "ms");
