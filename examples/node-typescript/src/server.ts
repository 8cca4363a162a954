import { createServer } from "node:http";

const port: number = Number(process.env.PORT ?? 8080);
createServer((_request, response) => {
  response.end(`hello from TypeScript on ${process.arch}\n`);
}).listen(port, () => console.log(`listening on ${port}`));
