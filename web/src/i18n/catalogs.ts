// Every feature's messages; one import per feature file.
import { account } from "./account";
import { admin } from "./admin";
import { ai } from "./ai";
import { common } from "./common";
import { register } from "./index";
import { media } from "./media";
import { meetings } from "./meetings";
import { recordings } from "./recordings";
import { room } from "./room";
import { widgets } from "./widgets";

register(common);
register(account);
register(meetings);
register(media);
register(admin);
register(widgets);
register(room);
register(ai);
register(recordings);
