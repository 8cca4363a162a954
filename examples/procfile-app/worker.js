// The `worker` process: does its work, then says so.
console.log(`worker ${process.arch} ran`);
