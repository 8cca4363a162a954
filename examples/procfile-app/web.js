// The `web` process: answers HTTP on $PORT (8080 by default).
const http = require("http");
const port = Number(process.env.PORT || 8080);
http
  .createServer((req, res) => res.end(`web ${process.arch}\n`))
  .listen(port, () => console.log(`web listening on ${port}`));
